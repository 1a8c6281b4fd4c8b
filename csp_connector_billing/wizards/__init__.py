from . import csp_create_contracts
