"""drf-spectacular: the document detail's ``fields`` as clients receive it.

``DocumentDetailOutputSerializer`` declares the list as ``fields_`` (a serializer attribute
named ``fields`` would hide ``Serializer.fields``) and renames it in ``to_representation``;
without this extension the schema would promise ``fields_``. Registered when
``documents.api.views`` imports this module.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension


class DocumentDetailOutputScheme(OpenApiSerializerExtension):
    target_class = "documents.api.serializers.DocumentDetailOutputSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        properties = schema.get("properties", {})
        if "fields_" in properties:
            properties["fields"] = properties.pop("fields_")
            schema["required"] = sorted("fields" if name == "fields_" else name for name in schema.get("required", []))
        return schema
