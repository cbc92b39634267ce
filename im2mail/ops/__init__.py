"""The back-ends of the owner's and admin's commands: bots (add, list, remove, webhooks),
the init wizard, doctor, status, the systemd unit, the website widget, the stats report and
the offline demo. The CLI calls these; they call the archive, mail and channels."""
