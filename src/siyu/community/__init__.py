"""Community operations (社群) on WeCom customer groups, by subject in sub-packages: `groups` (group sync,
members, group codes, welcome templates, group messages, health), `archive` (the chat archive, sensitive-word
rules and alerts, silent members, response times) and `handover` (离职继承 of customers and groups). One Django
app: the sub-packages' models are gathered in `community.models` (DESIGN.md §3)."""
