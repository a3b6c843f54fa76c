"""Meeting rooms of the host app and their pairing with the cloud suite's room mailboxes."""
