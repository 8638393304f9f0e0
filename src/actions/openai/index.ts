import type { ActionDefinition } from "../types";
import { cancelBatch, createBatch, getBatch } from "./batches";
import { getFile, uploadFile } from "./files";
import { cancelFineTuningJob } from "./fine-tuning";
import { createImage, createSpeech } from "./media";
import { listModels } from "./models";
import { createChatCompletion, createEmbedding, createModeration, createResponse } from "./text";
import { createVectorStore, searchVectorStore } from "./vector-stores";

/** OpenAI's actions, in the order `GET /actions` lists them. */
export const openaiActions: ActionDefinition[] = [
  createResponse,
  createChatCompletion,
  createEmbedding,
  createModeration,
  createImage,
  createSpeech,
  uploadFile,
  getFile,
  createBatch,
  getBatch,
  cancelBatch,
  createVectorStore,
  searchVectorStore,
  cancelFineTuningJob,
  listModels,
];
