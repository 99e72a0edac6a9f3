"""Source adapters: each reads raw records from one kind of legacy system (SQL, REST, XML, files,
TMF620 feeds, webhooks). Mapping to canonical entities is not their job (see ``connectors.mapping``)."""
