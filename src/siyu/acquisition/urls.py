"""Console URLs of acquisition, included under /acquisition/ by siyu.console.urls (namespace `console`)."""

urlpatterns: list = []
