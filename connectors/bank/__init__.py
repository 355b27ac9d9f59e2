"""The bank connector and its statement reader: OFX/QFX (``ofxtools``) and CSV (the stdlib).

``read_statements(path)`` returns one ``Statement`` per account in the file, whose ``items`` are
``NewTransaction`` records and, for rows that failed parsing or the checks (``connectors.checks``),
``RejectedRow`` entries with the line and the reason. ``Finance.import_transactions`` writes both in
one database transaction. ``BankConnector`` imports the statement files dropped into a folder.

Modules: ``amounts`` (amounts and dates as banks write them), ``ofx``, ``csv_reader``, ``statement``
(the ``Statement`` a reader yields), ``reader`` (format detection, ``read_statements``), ``connector``
(``BankConnector``, the statements folder).
"""

from connectors.bank.amounts import DateOrder, parse_amount, parse_date
from connectors.bank.connector import BankConfig, BankConnector
from connectors.bank.reader import read_statements
from connectors.bank.statement import Statement
from connectors.errors import StatementError

__all__ = [
    "BankConfig",
    "BankConnector",
    "DateOrder",
    "Statement",
    "StatementError",
    "parse_amount",
    "parse_date",
    "read_statements",
]
