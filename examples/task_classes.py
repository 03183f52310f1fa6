"""Task classes: handlers shared by many tasks, a class-based task, and task_cls.

Run it as it is: `python examples/task_classes.py` (it makes a store in a temporary
directory and runs the jobs in this process).
"""

import os
import tempfile

import litejobs


class Audited(litejobs.Task):
    """Handlers run on the worker (and in eager mode) in Celery's order."""

    def before_start(self, task_id, args, kwargs):
        print(f"starting {self.name}{tuple(args)}")

    def on_success(self, retval, task_id, args, kwargs):
        print(f"  {self.name} returned {retval!r}")

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        print(f"  {self.name} will retry: {exc!r}")

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        last_line = einfo.traceback.strip().splitlines()[-1]
        print(f"  {self.name} failed: {last_line}")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        print(f"  after_return: {status}")


store = os.path.join(tempfile.mkdtemp(), "jobs.sqlite")
app = litejobs.App(store, main="tasks")


@app.task(base=Audited)
def add(x, y):
    return x + y


@app.task(base=Audited, bind=True, max_retries=1, default_retry_delay=0)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(exc=ConnectionError("try again"))
    raise ValueError("still broken")


class Multiply(app.Task):  # a class-based task: app.Task is the app's base class
    name = "tasks.multiply"

    def run(self, x, y):
        return x * y


multiply = app.register_task(Multiply())

if __name__ == "__main__":
    results = [add.delay(2, 3), flaky.delay(), multiply.delay(6, 7)]
    app.run_until_idle()  # the worker's path, in this process
    print([r.state for r in results])

    # Every task of an app can share one base: App(..., task_cls=Audited)
    # (or task_cls="module:Audited").
    audited_app = litejobs.App(store, eager=True, task_cls=Audited)

    @audited_app.task
    def hello(name):
        return f"hello {name}"

    print(hello.delay("ada").get())
