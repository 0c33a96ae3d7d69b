from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from security import audit, lockout

        audit.install()
        user_locked_out.connect(lockout.locked_out_flag_for_drf, dispatch_uid="security.lockout.drf")
