"""Signing in and out, the start page, and the page a refused form shows."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ops_admin import audit
from ops_admin.console import (
    ANY_STAFF,
    console_page,
    end_session,
    safe_next,
    signed_in,
    staff_view,
    start_session,
)
from ops_admin.staff_auth import MAX_PASSWORD, MAX_USERNAME, SignInRefused, Staff, sign_in


class SignInForm(forms.Form):
    username = forms.CharField(max_length=MAX_USERNAME, strip=True)
    password = forms.CharField(max_length=MAX_PASSWORD, strip=False, widget=forms.PasswordInput)


@require_http_methods(["GET", "POST"])
@console_page
def sign_in_page(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and signed_in(request) is not None:
        return HttpResponseRedirect(next_url)
    form = SignInForm(request.POST or None)
    status, retry_after = 200, None
    if request.method == "POST":
        if form.is_valid():
            try:
                staff = sign_in(form.cleaned_data["username"], form.cleaned_data["password"])
            except SignInRefused as refused:
                form.add_error(None, str(refused))
                status, retry_after = (429 if refused.retry_after else 401), refused.retry_after
            else:
                start_session(request, staff)
                messages.success(request, f"Signed in as {staff.username} ({staff.role}).")
                return HttpResponseRedirect(next_url)
        else:
            status = 400
    response = render(
        request, "ops_admin/sign_in.html", {"form": form, "next": next_url}, status=status
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
@staff_view(ANY_STAFF)
def sign_out(request: HttpRequest, staff: Staff) -> HttpResponse:
    end_session(request)
    audit.record(actor=staff.username, action="sign_out", target=staff.username)
    messages.info(request, "Signed out.")
    return HttpResponseRedirect(reverse("ops:sign_in"))


@require_GET
@staff_view(ANY_STAFF)
def home(request: HttpRequest, staff: Staff) -> HttpResponse:
    return HttpResponseRedirect(reverse("ops:users"))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal, as a console page (Django's own is a debug page)."""
    response = render(
        request,
        "ops_admin/forbidden.html",
        {
            "staff": None,
            "message": (
                "This form could not be accepted: it expired or came from another page. "
                "Go back, reload the page and try again."
            ),
        },
        status=403,
    )
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [
    path("", home, name="home"),
    path("sign-in", sign_in_page, name="sign_in"),
    path("sign-out", sign_out, name="sign_out"),
]
