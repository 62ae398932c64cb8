"""The rules of caseworker review: statuses, who may decide what, and the contact handover."""
