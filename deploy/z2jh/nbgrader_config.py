# nbgrader's student-side configuration in the single-user image (/etc/jupyter/nbgrader_config.py).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "vizlab"
c.Exchange.root = "/srv/nbgrader/exchange"      # the shared volume of deploy/z2jh/config.yaml
