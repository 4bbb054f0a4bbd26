"""The KPIs the agencies report on: one module per workflow over the shared engine (`engine`)."""
