# The moved ConversationState table takes this app's name (a rename: rows, sequence and
# constraints stay).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0009_conversationstate'),
        ('message_templates', '0003_conversationstate_moved_flowrule_bot_id'),
    ]

    operations = [
        migrations.AlterModelTable(name='conversationstate', table=None),
    ]
