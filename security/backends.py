"""The authentication backend that refuses locked-out accounts and addresses."""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for HTTP sign-ins only.

    axes refuses an ``authenticate()`` without a request; code that authenticates with no
    request at all (the test client's ``login()``, a management command) is not a sign-in
    attempt from the network, so it passes on to the next backend instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
