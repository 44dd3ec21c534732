"""The Tachikoma spec's common metric names."""

MISSIONS_STARTED = "tachikoma_missions_started_total"
MISSIONS_COMPLETED = "tachikoma_missions_completed_total"
MISSIONS_FAILED = "tachikoma_missions_failed_total"
ACTIVE_MISSIONS = "tachikoma_active_missions"
TOKENS_USED = "tachikoma_tokens_used_total"
API_CALLS = "tachikoma_api_calls_total"
CONTEXT_USAGE = "tachikoma_context_usage_percent"

__all__ = [
    "ACTIVE_MISSIONS",
    "API_CALLS",
    "CONTEXT_USAGE",
    "MISSIONS_COMPLETED",
    "MISSIONS_FAILED",
    "MISSIONS_STARTED",
    "TOKENS_USED",
]
