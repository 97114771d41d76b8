"""Monitoring: distribution-shift statistics shared by the canary gate and drift monitoring."""
