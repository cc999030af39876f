"""Training: schedules (per-iteration arrays), EMA teacher, parameter groups and clipping.

Modules: ``schedules`` (lr, weight decay, teacher momentum and temperature),
``ema`` (``update_teacher``), ``optim`` (parameter groups,
per-parameter gradient clipping, last-layer freezing, applying schedules).
"""
