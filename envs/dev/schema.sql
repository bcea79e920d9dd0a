-- Run once, when spotctl creates the database (database.schema in spotctl.toml).
CREATE TABLE IF NOT EXISTS employees (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    email VARCHAR(255) NOT NULL
);
