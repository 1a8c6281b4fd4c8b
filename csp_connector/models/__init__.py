from . import csp_connection
