"""Console URLs of surveys, included under /surveys/ by siyu.console.urls (namespace `console`)."""

urlpatterns: list = []
