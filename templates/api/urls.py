from rest_framework.routers import SimpleRouter

from templates.api.views import FlowRuleViewSet, MessageTemplateViewSet

router = SimpleRouter(trailing_slash=True)
router.register("templates", MessageTemplateViewSet, basename="message-template")
router.register("flow-rules", FlowRuleViewSet, basename="flow-rule")

urlpatterns = router.urls
