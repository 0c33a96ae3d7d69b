"""Settings of the owner's analytics (leads.analytics). Imports no app."""

import environ

env = environ.Env()

# What one million tokens cost at the tenant's AI endpoint, for the analytics page's
# *estimated* cost (prompt = input, completion = output). The default is OpenAI's list
# price of the default model (gpt-4o-mini); set yours for another model or provider.
ANALYTICS_AI_PRICE_PER_MILLION_TOKENS = {
    "prompt": env.float("ANALYTICS_AI_PRICE_PROMPT_PER_MILLION", default=0.15),
    "completion": env.float("ANALYTICS_AI_PRICE_COMPLETION_PER_MILLION", default=0.60),
}
ANALYTICS_AI_COST_CURRENCY = env.str("ANALYTICS_AI_COST_CURRENCY", default="USD")
