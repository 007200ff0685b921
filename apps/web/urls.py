from django.urls import path

from apps.web import views

app_name = "web"

urlpatterns = [
    path("", views.library, name="library"),
    path("sign-in", views.sign_in_page, name="sign-in"),
    path("sign-out", views.sign_out_page, name="sign-out"),
    path("upload", views.upload, name="upload"),
    path("videos/<int:video_id>", views.video_page, name="video"),
    # Without JavaScript the buttons post here; with it, the pages call the API directly.
    path("videos/<int:video_id>/<str:action>", views.video_action, name="video-action"),
]
