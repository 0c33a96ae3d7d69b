"""The AI's settings are the AI assistant's: "agent" is a person of the team (issue 9 §3)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("conversations", "0010_conversationstate_table")]

    operations = [
        migrations.RenameModel(old_name="AIAgentSettings", new_name="AIAssistantSettings"),
        migrations.AlterModelOptions(
            name="aiassistantsettings",
            options={"verbose_name": "AI assistant settings", "verbose_name_plural": "AI assistant settings"},
        ),
    ]
