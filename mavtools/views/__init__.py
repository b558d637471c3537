"""What people look at: figures, widgets, the offline report and the JupyterLab launcher."""
