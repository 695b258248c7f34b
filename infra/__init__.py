"""Infrastructure as code: the CloudFormation template, its deployment helpers and packaging."""
