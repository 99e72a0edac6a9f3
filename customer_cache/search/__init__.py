"""Customer search: exact lookup by any identifier, then fuzzy name + postcode / birth date."""
