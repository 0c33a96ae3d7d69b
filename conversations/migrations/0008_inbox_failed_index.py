from django.db import migrations


class Migration(migrations.Migration):
    """The inbox's "failed send" badge and filter look up failed messages per conversation.

    A partial index keeps that a probe per listed row instead of a scan of every failed
    message (bench/dashboard.py). Raw SQL, no model state: the table is core.py's.
    """

    dependencies = [("conversations", "0007_inbox_read_at")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS inbox_message_failed ON conversations_message (conversation_id) "
            "WHERE status IN ('failed', 'dead')",
            reverse_sql="DROP INDEX IF EXISTS inbox_message_failed",
        ),
    ]
