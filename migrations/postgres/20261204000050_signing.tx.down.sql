DROP TABLE signatures;
DROP TABLE document_signers;
