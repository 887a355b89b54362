-- One database per service: services never share a database (DESIGN.md).
CREATE DATABASE govnet_catalog;
CREATE DATABASE govnet_applications;
CREATE DATABASE govnet_notifications;
CREATE DATABASE govnet_audit;
