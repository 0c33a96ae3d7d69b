"""The owner dashboard (issue 10): inbox pages, their fragments, the simulator.

- ``selectors``: reads for the pages (permission-aware: owners see all, agents theirs + unassigned);
- ``services``: writes of the inbox (notes, labels, canned responses, assignment, resolve…);
- ``views``: thin page and htmx-fragment views; ``forms``: input validation.
"""
