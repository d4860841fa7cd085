"""Settings by purpose: ``base`` is production (every value from the
environment), ``local`` points at the stack ``make run`` starts, ``test``
is for pytest."""
