"""FilterSets of the workflows app, shared by the API and the dashboard."""

from bizmitra.filters import FilterSet
from workflows.models import CommunicationWorkflow


class WorkflowFilterSet(FilterSet):
    class Meta:
        model = CommunicationWorkflow
        fields = ["trigger", "channel", "is_active"]
