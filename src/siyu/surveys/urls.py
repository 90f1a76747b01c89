"""Console URLs of surveys, included under /surveys/ by siyu.console.urls (namespace `console`)."""

from django.urls import path

from siyu.surveys import views

urlpatterns: list = [
    path("", views.surveys, name="surveys"),
    path("attributes/", views.survey_attributes, name="survey_attributes"),
    path("<int:survey_id>/", views.survey, name="survey"),
    path("<int:survey_id>/questions/new/", views.survey_question_new, name="survey_question_new"),
    path("<int:survey_id>/questions/<int:number>/", views.survey_question, name="survey_question"),
    path("<int:survey_id>/questions/<int:number>/delete/", views.survey_question_delete,
         name="survey_question_delete"),
    path("<int:survey_id>/results/", views.survey_results, name="survey_results"),
    path("<int:survey_id>/persona/", views.survey_persona, name="survey_persona"),
    path("<int:survey_id>/persona/export/", views.survey_persona_export, name="survey_persona_export"),
]
