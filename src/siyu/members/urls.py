"""The member centre's URLs, mounted at /m/ by siyu.project.urls (namespace `members`)."""

app_name = "members"

urlpatterns: list = []
