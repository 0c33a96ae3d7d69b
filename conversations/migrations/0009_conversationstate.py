# ConversationState moves from templates to conversations (issue 9 §3): templates sits below
# conversations and may point no foreign key at it. This step only adopts the model in
# Django's state, on the existing table (rows kept); 0010 renames the table.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0008_inbox_failed_index'),
        ('message_templates', '0002_flowrule_bot'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ConversationState',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('state', models.CharField(blank=True, default='', max_length=64)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('contact', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='flow_state', to='conversations.contact')),
                        ('last_template', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='message_templates.messagetemplate')),
                    ],
                    options={'db_table': 'message_templates_conversationstate'},
                ),
            ],
            database_operations=[],
        ),
    ]
