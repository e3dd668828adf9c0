"""Data layer: reading records from files and turning texts into chunks."""
