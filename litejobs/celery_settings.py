"""What each of Celery's settings means here: honoured (config.DEFAULTS), accepted with no
effect (and why), or refused (and why). The one home of that table; the table in
docs/coming-from-celery.md is written from it (a test keeps the two equal)."""

from __future__ import annotations

_RESULTS = "results live in the store (one store holds queues and results)"
_BROKER = ("connection tuning for a message broker: litejobs talks to its store "
           "directly (SQLite file or Redis URL)")
_AMQP = "AMQP exchanges, routing keys and queue types: a queue here is just a name"
_BROADCAST = "no broadcast channel: control and events go through the store"
_CLI = "a command-line option here (litejobs worker --help), not a setting"
_NO_PREFETCH = "workers claim one job per free process; nothing is prefetched"

# Celery names accepted and stored, with no effect here: name -> why.
NO_EFFECT: dict[str, str] = {
    **{name: _BROKER for name in (
        "broker_channel_error_retry", "broker_connection_max_retries",
        "broker_connection_retry", "broker_connection_retry_on_startup",
        "broker_connection_timeout", "broker_failover_strategy", "broker_heartbeat",
        "broker_heartbeat_checkrate", "broker_host", "broker_login_method",
        "broker_native_delayed_delivery_queue_type", "broker_password",
        "broker_pool_acquire_timeout", "broker_pool_limit", "broker_port",
        "broker_transport", "broker_transport_options", "broker_use_ssl", "broker_user",
        "broker_vhost")},
    **{name: _RESULTS for name in (
        "arangodb_backend_settings", "azureblockblob_base_path",
        "azureblockblob_connection_timeout", "azureblockblob_container_name",
        "azureblockblob_read_timeout", "azureblockblob_retry_increment_base",
        "azureblockblob_retry_initial_backoff_sec", "azureblockblob_retry_max_attempts",
        "cache_backend", "cache_backend_options", "cassandra_auth_kwargs",
        "cassandra_auth_provider", "cassandra_bundle_path", "cassandra_entry_ttl",
        "cassandra_keyspace", "cassandra_options", "cassandra_port",
        "cassandra_read_consistency", "cassandra_servers", "cassandra_table",
        "cassandra_write_consistency", "cosmosdbsql_collection_name",
        "cosmosdbsql_consistency_level", "cosmosdbsql_database_name",
        "cosmosdbsql_max_retry_attempts", "cosmosdbsql_max_retry_wait_time",
        "couchbase_backend_settings", "database_create_tables_at_setup",
        "database_engine_callback", "database_engine_options",
        "database_short_lived_sessions", "database_table_names", "database_table_schemas",
        "database_url", "elasticsearch_max_retries", "elasticsearch_retry_on_timeout",
        "elasticsearch_save_meta_as_text", "elasticsearch_timeout", "gcs_base_path",
        "gcs_bucket", "gcs_project", "gcs_ttl", "mongodb_backend_settings",
        "redis_backend_use_ssl", "redis_db", "redis_host", "redis_max_connections",
        "redis_port", "redis_retry_on_timeout", "redis_socket_connect_timeout",
        "redis_socket_keepalive", "redis_socket_timeout", "result_backend_always_retry",
        "result_backend_base_sleep_between_retries_ms", "result_backend_max_retries",
        "result_backend_max_sleep_between_retries_ms", "result_backend_transport_options",
        "result_cache_max", "result_chord_join_timeout", "result_chord_retry_interval",
        "result_exchange", "result_exchange_type", "result_persistent", "s3_access_key_id",
        "s3_base_path", "s3_bucket", "s3_endpoint_url", "s3_region",
        "s3_secret_access_key", "cassandra_secure_bundle_path", "override_backends",
        "redis_backend_credential_provider", "redis_backend_health_check_interval",
        "redis_client_name", "result_backend_thread_safe")},
    **{f"{program}_{what}": _CLI for program in ("worker", "beat", "events")
       for what in ("executable", "gid", "logfile", "pidfile", "uid", "umask")},
    **{name: _AMQP for name in (
        "task_create_missing_queue_exchange_type", "task_create_missing_queue_type",
        "task_default_delivery_mode", "task_default_exchange",
        "task_default_exchange_type", "task_default_queue_type", "task_default_routing_key",
        "task_queue_max_priority", "worker_detect_quorum_queues", "worker_direct")},
    **{name: _BROADCAST for name in (
        "control_exchange", "control_queue_durable", "control_queue_exclusive",
        "control_queue_expires", "control_queue_ttl", "event_exchange",
        "event_queue_durable", "event_queue_exclusive", "event_queue_expires",
        "event_queue_prefix", "event_queue_ttl", "worker_enable_remote_control")},
    **{name: _NO_PREFETCH for name in (
        "worker_prefetch_multiplier", "worker_disable_prefetch",
        "worker_enable_prefetch_count_reduction", "worker_eta_task_limit")},
    "enable_utc": "times are always stored as UTC; `timezone` sets the zone of crontab "
                  "schedules",
    "task_create_missing_queues": "a queue exists as soon as a job names it",
    "task_queues": "a queue exists as soon as a job names it; the worker consumes what "
                   "-Q names (default: task_default_queue)",
    "task_track_started": "STARTED is always recorded",
    "result_extended": "always on: a result has name, args, kwargs, worker, queue, "
                       "retries and dates",
    "task_reject_on_worker_lost": "a job whose process dies is decided by its "
                                  "acks_late and retry policy (docs/guarantees.md)",
    "task_acks_on_failure_or_timeout": "a failed or timed-out job is always acknowledged",
    "task_acks_on_failure": "a failed job is always acknowledged",
    "task_acks_on_timeout": "a timed-out job is always acknowledged",
    "task_publish_retry": "sending is one local write or Redis call, never retried",
    "task_publish_retry_policy": "sending is one local write or Redis call, never retried",
    "task_protocol": "litejobs has one job format",
    "task_compression": "jobs are msgpack; no compression",
    "result_compression": "results are msgpack; no compression",
    "task_remote_tracebacks": "tracebacks are always stored with the failure",
    "task_send_sent_event": "every job's events are in the store (litejobs events)",
    "task_store_eager_result": "eager results are kept in the caller's EagerResult",
    "task_store_errors_even_if_ignored": "failures are always stored",
    "task_inherit_parent_priority": "each job has its own priority",
    "worker_agent": "no worker agent",
    "worker_autoscaler": "the pool is fixed at -c (autoscaling is a worker option)",
    "worker_consumer": "the consumer is not pluggable",
    "worker_timer": "the timer is not pluggable",
    "worker_timer_precision": "waiting jobs are woken by the store, not a timer",
    "worker_pool": "choose the pool with litejobs worker --pool",
    "worker_pool_putlocks": "no pool locks",
    "worker_pool_restarts": "pool children are restarted by the supervisor",
    "worker_lost_wait": "a lost process is seen at once by the supervisor",
    "worker_proc_alive_timeout": "the supervisor waits for each child itself",
    "worker_max_memory_per_child": "a worker option, not a setting, here",
    "worker_state_db": "revocations and state are always stored",
    "worker_deduplicate_successful_tasks": "a finished job is never run again",
    "worker_disable_rate_limits": "rate limits are stored and always obeyed",
    "worker_cancel_long_running_tasks_on_connection_loss": "no broker connection to lose",
    "worker_enable_soft_shutdown_on_idle": "a warm shutdown finishes running jobs",
    "worker_soft_shutdown_timeout": "a warm shutdown finishes running jobs",
    "worker_hijack_root_logger": "only the litejobs command sets up logging; an App "
                                 "in your process never touches the root logger",
    "worker_log_color": "log lines are plain",
    "worker_redirect_stdouts": "a task's print() goes to the worker's stdout",
    "worker_redirect_stdouts_level": "a task's print() goes to the worker's stdout",
    "beat_cron_starting_deadline": "beat keeps its state in the store",
    "beat_max_loop_interval": "beat sleeps until the next due entry",
    "beat_schedule_filename": "beat keeps its state in the store, not a file",
    "beat_scheduler": "beat keeps its schedule in the store; schedulers are not pluggable",
    "beat_sync_every": "beat writes every run to the store",
    "broker_read_url": "one store URL serves reads and writes",
    "broker_write_url": "one store URL serves reads and writes",
    "event_serializer": "events are msgpack (json and msgpack accepted)",
}

# Celery names refused with an error: name -> why.
REFUSED: dict[str, str] = {
    **{name: "litejobs has no message signing: anyone who can write to the store can "
             "send a job, so guard the store file or Redis itself"
       for name in ("security_cert_store", "security_certificate", "security_digest",
                    "security_key", "security_key_password")},
}
