from django_tasks import task

from siyu.core.models import Job


@task()
def run_job_task(job_id: str) -> None:
    from siyu.core.owner import execute_job

    execute_job(Job.objects.get(pk=job_id))
