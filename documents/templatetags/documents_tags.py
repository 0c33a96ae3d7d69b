from django import template

register = template.Library()

LABELS = {
    "email": "Email",
    "phone": "Phone",
    "date": "Date",
    "date_other": "Other date",
    "amount": "Amount",
    "amount_other": "Other amount",
    "currency": "Currency",
    "invoice_number": "Invoice no.",
    "order_number": "Order no.",
    "transaction_id": "Transaction ID",
    "gstin": "GSTIN",
    "pan": "PAN",
    "name": "Name",
}


@register.filter
def field_label(name: str) -> str:
    return LABELS.get(name, str(name).replace("_", " ").capitalize())
