"""Celery's proj/celery.py, with ``litejobs.App`` for ``Celery``."""

import os

import litejobs

# Set the default Django settings module for the 'litejobs' program.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = litejobs.App("proj")

# Using a string here means the worker doesn't have to serialize the configuration
# object to child processes. namespace='CELERY' means all settings have a CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Load task modules from all registered Django apps.
app.autodiscover_tasks()


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    print(f"Request: {self.request!r}")
