from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="unroutedevent",
            name="kind",
            field=models.CharField(
                choices=[("unrouted", "Unrouted"), ("rejected", "Rejected"), ("cleaned", "Cleaned")],
                db_index=True,
                default="unrouted",
                max_length=16,
            ),
        ),
    ]
