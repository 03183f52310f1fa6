from django.db import models


class Order(models.Model):
    item = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="new")
    worker_pid = models.IntegerField(null=True)
    # whether the job started without a database connection left open by an earlier job
    fresh_connection = models.BooleanField(null=True)
