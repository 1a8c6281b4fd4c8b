-- neutralisation of the Microsoft CSP connector: no secret, no token, no scheduled sync
UPDATE csp_connection
   SET pc_client_secret = NULL,
       gdap_client_secret = NULL,
       token_cache = NULL,
       auth_flow = NULL,
       state = 'not_authorized',
       integrator_enabled = FALSE;
UPDATE csp_tenant
   SET consent_nonce = NULL;
