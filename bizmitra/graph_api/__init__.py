"""Meta's WhatsApp Cloud API wire format: the Graph client and the outbound payload builder.

A leaf library in the kernel (it imports nothing of the project), so every app may use it:
``templates`` validates and syncs templates with it, ``conversations`` sends with it.
"""
