"""Plain Python clients for Microsoft's APIs: no ORM access here.

``http`` is the only code that speaks HTTP to Microsoft; ``errors`` types failures and
explains them; ``redact`` keeps secrets out of everything that is logged.
"""
