"""FilterSets of the workflows app, shared by the API and the dashboard."""

import django_filters

from workflows.models import CommunicationWorkflow


class WorkflowFilterSet(django_filters.FilterSet):
    class Meta:
        model = CommunicationWorkflow
        fields = ["trigger", "channel", "is_active"]
