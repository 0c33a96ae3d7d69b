# Templates stops pointing at conversations (issue 9 §3): ConversationState now belongs to
# conversations (adopted there by conversations 0009, same table), and FlowRule.bot becomes a
# plain bot_id on the same column (index kept, foreign-key constraint dropped). Deleting a bot
# still deletes its rules: conversations.engine.flow_rules does it.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('message_templates', '0002_flowrule_bot'),
        ('conversations', '0009_conversationstate'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ConversationState')],
            database_operations=[],
        ),
        # Drops only the constraint; the column and its index stay.
        migrations.AlterField(
            model_name='flowrule',
            name='bot',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='Only for conversations this bot serves; empty: every bot.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='flow_rules', to='conversations.bot'),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name='flowrule', name='bot'),
                migrations.AddField(
                    model_name='flowrule',
                    name='bot_id',
                    field=models.BigIntegerField(blank=True, db_index=True, help_text='Only for conversations this bot serves; empty: every bot.', null=True, verbose_name='bot'),
                ),
            ],
            database_operations=[],
        ),
    ]
