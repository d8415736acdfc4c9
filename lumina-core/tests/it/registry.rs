//! Registry fixtures: good files parse, bad files give their exact diagnostics.
