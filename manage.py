#!/usr/bin/env python
"""Django's command-line utility. Defaults to the local settings, which
point at the stack ``make run`` starts; deployments set
DJANGO_SETTINGS_MODULE=lifestyle.settings.base."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifestyle.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
